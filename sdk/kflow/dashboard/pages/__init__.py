"""The dashboard's pages, each a function of the Store's objects and the request's query that
returns a `PageView` (kflow.dashboard.pages.common): the part that changes live, which the
browser fetches again when a watched object changes, and the parts around it that do not
(forms being typed into)."""
