"""`kflow dashboard`: a small web app showing the cluster's FlowRuns and Deployments live.

It acts with the credentials of the person who started it (their kube context), so it shows
what `kubectl` would show them and an action they may not do fails with the API server's own
403. Nothing here is imported by `import kflow` or by any other command: the `dashboard`
command imports it when it runs.
"""
