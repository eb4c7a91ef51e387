"""Generated flow run names (`loose-wolverine`) and run ids."""

from __future__ import annotations

import os
from random import getrandbits

# fmt: off
ADJECTIVES = [
    "able", "acrid", "agile", "amber", "ample", "ancient", "arctic", "ardent", "auburn",
    "azure", "benevolent", "bold", "brave", "bright", "brisk", "calm", "candid", "careful",
    "cheerful", "clever", "cobalt", "cosmic", "crafty", "crimson", "curious", "daft", "dainty",
    "dapper", "daring", "dazzling", "deft", "delightful", "eager", "earnest", "elegant",
    "emerald", "energetic", "fancy", "fearless", "festive", "fiery", "flawless", "fluffy",
    "fortunate", "friendly", "frosty", "gentle", "giddy", "glorious", "golden", "graceful",
    "grinning", "hallowed", "handsome", "happy", "hardy", "hearty", "helpful", "honest",
    "humble", "icy", "impartial", "industrious", "inquisitive", "invisible", "jolly", "jovial",
    "keen", "kind", "lavender", "lively", "logical", "loose", "loyal", "lucky", "magenta",
    "majestic", "mellow", "merry", "mighty", "modest", "nebulous", "nifty", "nimble", "noble",
    "olive", "opalescent", "optimistic", "orange", "outstanding", "patient", "peaceful",
    "perky", "placid", "polite", "precious", "proud", "quick", "quiet", "quirky", "radiant",
    "rapid", "rational", "resilient", "robust", "rose", "ruby", "rustling", "sage", "sandy",
    "scarlet", "serene", "shiny", "silver", "sincere", "sleek", "smart", "smiling", "snobbish",
    "sparkling", "spectacular", "spirited", "splendid", "steady", "stoic", "sturdy",
    "successful", "sunny", "super", "tactful", "tan", "teal", "tidy", "tireless", "tough",
    "tranquil", "tricky", "uber", "unbiased", "unique", "upbeat", "valiant", "vehement",
    "vermilion", "versed", "vigilant", "vivacious", "warm", "whimsical", "whispering", "wild",
    "wise", "witty", "wondrous", "xanthic", "youthful", "zealous", "zippy",
]

ANIMALS = [
    "aardvark", "albatross", "alligator", "alpaca", "angelfish", "ant", "anteater", "antelope",
    "armadillo", "avocet", "axolotl", "baboon", "badger", "barracuda", "bat", "bear", "beaver",
    "bee", "beetle", "bird", "bison", "boar", "bobcat", "bonobo", "buffalo", "bullfrog",
    "bumblebee", "butterfly", "camel", "capybara", "caracal", "cardinal", "caribou",
    "cassowary", "cat", "caterpillar", "chameleon", "cheetah", "chicken", "chihuahua",
    "chimpanzee", "chinchilla", "chipmunk", "cicada", "civet", "cobra", "cockatoo", "cod",
    "coati", "cougar", "cow", "coyote", "crab", "crane", "cricket", "crocodile", "crow",
    "cuckoo", "curassow", "dachshund", "deer", "dingo", "dinosaur", "dodo", "dog", "dolphin",
    "donkey", "dormouse", "dove", "dragon", "dragonfly", "duck", "eagle", "earthworm", "eel",
    "egret", "eland", "elephant", "elk", "emu", "falcon", "ferret", "finch", "firefly", "fish",
    "flamingo", "fox", "frog", "gazelle", "gecko", "gerbil", "gibbon", "giraffe", "gnu", "goat",
    "goose", "gopher", "gorilla", "grasshopper", "grouse", "guan", "guppy", "hamster", "hare",
    "harrier", "hawk", "hedgehog", "heron", "hippo", "hornet", "horse", "hound", "hummingbird",
    "husky", "hyena", "ibex", "ibis", "iguana", "impala", "jackal", "jaguar", "jellyfish",
    "kangaroo", "kingfisher", "kiwi", "koala", "kudu", "ladybug", "lemming", "lemur", "leopard",
    "lion", "lionfish", "lizard", "llama", "lobster", "locust", "loon", "lori", "lynx",
    "macaque", "macaw", "mamba", "manatee", "mandrill", "mantis", "marmot", "marten", "meerkat",
    "mink", "mole", "mongoose", "monkey", "moose", "mosquito", "moth", "mouse", "mule",
    "narwhal", "newt", "nightingale", "numbat", "ocelot", "octopus", "okapi", "opossum", "orca",
    "oriole", "ostrich", "otter", "owl", "ox", "oyster", "panda", "pangolin", "panther",
    "parakeet", "parrot", "partridge", "peacock", "pelican", "penguin", "petrel", "pheasant",
    "pig", "pigeon", "pika", "piranha", "platypus", "pony", "poodle", "porcupine", "porpoise",
    "possum", "prawn", "puffin", "puma", "python", "quail", "quetzal", "quokka", "rabbit",
    "raccoon", "ram", "rat", "raven", "reindeer", "rhino", "robin", "rooster", "salamander",
    "salmon", "sambar", "sandpiper", "sawfish", "scorpion", "seahorse", "seal", "shark",
    "sheep", "shrew", "shrimp", "skink", "skunk", "sloth", "slug", "snail", "snake", "spaniel",
    "sparrow", "spider", "squid", "squirrel", "starfish", "stingray", "stork", "swan", "swift",
    "tamarin", "tapir", "tarantula", "tarsier", "termite", "tern", "tiger", "toad", "tortoise",
    "toucan", "trout", "tuatara", "turkey", "turtle", "unicorn", "urchin", "vicugna", "viper",
    "vole", "vulture", "wallaby", "walrus", "warthog", "wasp", "weasel", "whale", "wildebeest",
    "wolf", "wolverine", "wombat", "woodlouse", "woodpecker", "worm", "wren", "yak", "zebra",
]
# fmt: on


def _pick(words: list[str]) -> str:
    return words[int.from_bytes(os.urandom(4), "big") % len(words)]


def generate_run_name() -> str:
    """An adjective-animal name such as `loose-wolverine`, as Prefect names flow runs."""
    return f"{_pick(ADJECTIVES)}-{_pick(ANIMALS)}"


_VERSION_4 = (0x4 << 76) | (0x2 << 62)
_VERSION_MASK = ~((0xF << 76) | (0x3 << 62))


def new_id() -> str:
    """A random (version 4 layout) UUID string for run ids.

    Drawn from `random` (seeded from os.urandom, reseeded after fork) rather than a urandom
    syscall per id: ids must be unique, not secret, and this is on the per-task hot path.
    """
    h = f"{(getrandbits(128) & _VERSION_MASK) | _VERSION_4:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
