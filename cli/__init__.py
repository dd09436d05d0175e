"""The `liveri` command line and `liveri run`: the top layer, above every stage.

It imports the stages (lazily, per subcommand); nothing imports it back.
"""
