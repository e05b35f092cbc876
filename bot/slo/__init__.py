"""Journey SLOs: where their events are counted, how fast the budget burns, when to page."""
