"""The Lambda handlers: one module per function, each a few lines over smokejumper.handlers.

Deployed as the functions' code asset (with the plan as plan.json beside them);
the library, Powertools and the engines' clients come from the layer.
"""
