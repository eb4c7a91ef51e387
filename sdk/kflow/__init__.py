"""kflow: Prefect-style flows that run locally or natively on Kubernetes."""
