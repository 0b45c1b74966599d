"""A plain library of UK postcodes, projections, areas, and loaders for the directory
and the boundaries.

It never imports the web application (app/) or Flask: everything here takes plain
values or a database connection and can be used from a script, a job or a benchmark.
"""
