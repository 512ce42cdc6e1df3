#!/usr/bin/env python3
"""Scrapes each URL given and parses the text with the Prometheus project's strict
OpenMetrics parser (the `prometheus_client` package), so that what the services export is
what a scraper accepts: names, label values, `_total` counters, histogram buckets, `# EOF`.
Also checks the media type and that every label value is snake_case.

Usage: metrics-check.py URL...   (exit 1 on the first URL that fails)
"""

import re
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families

MEDIA_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
# Label values that name things (outcomes, reasons, kinds): snake_case. Routes, upstream
# names and numbers (status codes, bucket bounds) are data, not names.
NAMING_LABELS = {"outcome", "reason", "kind", "result"}
SNAKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")


def check(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        media_type = response.headers.get("content-type")
        text = response.read().decode()
    if media_type != MEDIA_TYPE:
        raise SystemExit(f"{url}: media type {media_type!r}, expected {MEDIA_TYPE!r}")
    families = list(text_string_to_metric_families(text))
    if not families:
        raise SystemExit(f"{url}: no metric families")
    for family in families:
        for sample in family.samples:
            for name, value in sample.labels.items():
                if name in NAMING_LABELS and not SNAKE.match(value):
                    raise SystemExit(f"{url}: {sample.name}{{{name}={value!r}}} is not snake_case")
    print(f"{url}: {len(families)} metric families parse as OpenMetrics")


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for url in sys.argv[1:]:
        check(url)


if __name__ == "__main__":
    main()
