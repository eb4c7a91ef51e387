"""Runs `kflow execute` as a Kubernetes Job, one Job per attempt of a FlowRun.

- names.py: what the Job, its labels and its identifier are called;
- manifest.py: the Job built for an attempt (pure);
- observe.py: what a Job and its pods say about the run, and which Jobs to sweep (pure);
- launcher.py: the Launcher, its watches and its sweeper (the effects), calling the API
  through kubeapi/jobs.py;
- options.py and flags.py: its settings, and the operator's command line that sets them.
"""
