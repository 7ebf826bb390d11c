"""Dashboard pages of the customers app: the customer list and detail in ``customers``, the
report builder in ``reports``."""
