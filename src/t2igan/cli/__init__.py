"""The `t2igan` command line: one module per group of commands, on one project object.

`main` assembles the app; `project` holds the `(params, paths)` every command hands to the domain; the
other modules are the commands: the DVC stages (`stages`), the registry's actions (`models`), the people-facing
studio and describe (`people`), `flow`, `services`, `feedback` and `doctor`.
"""
