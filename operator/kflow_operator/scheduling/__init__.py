"""Scheduling a Deployment's runs: one pass per Deployment (run by handlers/deployments.py in
a worker thread), and the launch gate every due run of a Deployment goes through.

- deployment_pass.py: the pass: read the Deployment and its runs, ask the decisions, write;
- admission.py: the launch gate (OperatorContext.admission): whether a due run may launch now;
- store.py: the reads and writes they make, from the operator's indexes and through kubeapi;
- run_states.py: the state writes they make on runs (Late, Skipped, AwaitingConcurrencySlot);
- deployment_status.py: the Deployment's status (schedule summary, times, conditions);
- run_bodies.py: what a schedule's runs are named, labelled and made of (pure);
- views.py: the resources as the decisions see them (pure).
"""
