"""Architecture search: search space, model builder, tasks, training, evolutionary driver."""
