"""The kflow operator: reconciles kflow.dev Deployments and FlowRuns."""
