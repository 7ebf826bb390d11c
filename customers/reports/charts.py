"""How a grouped report is drawn: the Chart.js configuration (one series per currency for money),
the value it charts, and the labels of time buckets shared by the table and the chart.
"""

from customers.reports.datasets import Aggregate, Grouping
from dodo_billing.money import minor_to_major

PALETTE = ["#3b5bdb", "#12b886", "#f59f00", "#e8590c", "#7048e8", "#1098ad", "#d6336c", "#495057"]


def bucket_label(trunc: str, bucket) -> str:
    """A time bucket as the table and the chart show it (an hour, a day, a week or a month)."""
    if trunc == "hour":
        return bucket.strftime("%Y-%m-%d %H:00")
    if trunc == "month":
        return bucket.strftime("%Y-%m")
    if trunc == "week":
        return f"Week of {bucket:%Y-%m-%d}"
    return bucket.strftime("%Y-%m-%d")


def charted_aggregate(aggregates: list[Aggregate]) -> Aggregate:
    """The value the chart shows: the first amount of money chosen, else the first value."""
    return next((a for a in aggregates if a.kind == "money"), aggregates[0])


def chart_config(grouping: Grouping, rows: list[dict], aggregate: Aggregate, group_text) -> dict:
    """A Chart.js config of grouped rows: a line over hours or days, else bars; one series per
    currency for money. ``group_text(row)`` is the row's label on the x axis."""
    labels = list(dict.fromkeys(group_text(row) for row in rows))
    series: dict[str, dict[str, float]] = {}
    for row in rows:
        value = row.get(aggregate.name) or 0
        if aggregate.kind == "money" and row.get("currency"):
            name = f"{aggregate.label} ({row['currency']})"
            number = float(minor_to_major(int(value), row["currency"]))
        else:
            name = aggregate.label
            number = float(value)
        series.setdefault(name, {})[group_text(row)] = number
    datasets = []
    for index, (name, points) in enumerate(series.items()):
        color = PALETTE[index % len(PALETTE)]
        datasets.append(
            {
                "label": name,
                "data": [points.get(label, 0) for label in labels],
                "backgroundColor": color,
                "borderColor": color,
            }
        )
    return {
        "type": "line" if grouping.trunc in ("hour", "day") else "bar",
        "data": {"labels": labels, "datasets": datasets},
        "options": {
            "responsive": True,
            "maintainAspectRatio": False,
            "animation": False,
            "scales": {"y": {"beginAtZero": True}},
            "plugins": {"legend": {"display": True, "position": "bottom"}},
        },
    }
