"""`provisiond demo`: the service on SQLite with a sample directory, provisioning into a local SCIM
app, in one process.

It runs the same setup an administrator would do over Graph (through the same use cases the API
calls): a directory of a few hundred people (a deterministic, generated company with departments,
job titles, offices and a manager chain), groups, the custom SCIM app instantiated from its
application template, groups and users assigned to it, a job from the `scim` template with the
app's BaseAddress and SecretToken, started. It shows the initial cycle as it runs and what it did,
then keeps serving and prints a token and ready-to-paste commands for the API.

One module per idea: `sample` (the generated directory), `setup` (the app, assignments and job,
through the use cases), `progress` (the initial cycle as it runs), `instructions` (what to try
next) and `run` (the command from start to finish). Nothing here imports `provisiond.cli`.
"""

from provisiond.demo.run import DemoError, DemoOptions, run_demo
from provisiond.demo.sample import SampleDirectory, generate_directory

__all__ = ["DemoError", "DemoOptions", "SampleDirectory", "generate_directory", "run_demo"]
