"""Runs `kflow execute` in a Docker container, one container per attempt of a FlowRun.

- names.py: the container's name and labels, and the launcher's scope;
- container_spec.py: the container created for an attempt (pure);
- kube_access.py: how the container reaches the Kubernetes API, with a token of its own;
- images.py: the image, pulled or not as the pull policy says;
- observe.py: what a container's state says about the run, and which containers to sweep (pure);
- deaths.py: the engine's events that tell a supervisor at once that its container died;
- launcher.py: the Launcher, its sweeper and token refresher (the effects);
- options.py and flags.py: its settings, and the operator's command line that sets them.
"""
