#!/usr/bin/python3
"""Checks a scraped /metrics page with Prometheus's own text parser (python3-prometheus-client).

usage: metrics_check.py PAGE_FILE [EXPECT...]
       metrics_check.py --json STATUS_FILE [KEY=VALUE...]

EXPECT is  name{label=value,...}OP NUMBER  with OP one of == >= <= (labels optional; a
sample without them must have none), or  name{...}  alone: the sample exists. Exits 0 when
the page parses and every expectation holds; prints what failed otherwise.
"""
import json
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

EXPECT = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?(?:(==|>=|<=)(-?[0-9.eE+]+))?$')


def parse_page(text):
    samples = {}
    families = list(text_string_to_metric_families(text))
    if not families:
        raise ValueError('no metric family parsed')
    for family in families:
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            if key in samples:
                raise ValueError('duplicate sample %s %s' % (s.name, dict(s.labels)))
            samples[key] = s.value
    return families, samples


def check_page(path, expectations):
    text = open(path, encoding='utf-8').read()
    try:
        families, samples = parse_page(text)
    except Exception as e:  # the parser's own error: the page is not valid text format
        print('metrics_check: the page does not parse: %r' % e)
        return 1
    failures = 0
    for exp in expectations:
        m = EXPECT.match(exp)
        if not m:
            print('metrics_check: bad expectation %r' % exp)
            return 2
        name, labels, op, number = m.groups()
        want_labels = frozenset()
        if labels:
            want_labels = frozenset(tuple(kv.split('=', 1)) for kv in labels.split(','))
        value = samples.get((name, want_labels))
        if value is None:
            print('metrics_check: no sample %s{%s}' % (name, labels or ''))
            failures += 1
            continue
        if op is None:
            continue
        n = float(number)
        ok = {'==': value == n, '>=': value >= n, '<=': value <= n}[op]
        if not ok:
            print('metrics_check: %s{%s} is %r, want %s %s' % (name, labels or '', value, op, number))
            failures += 1
    print('metrics_check: %d families, %d samples, %d expectation(s) failed' %
          (len(families), len(samples), failures))
    return 1 if failures else 0


def check_json(path, expectations):
    try:
        doc = json.load(open(path, encoding='utf-8'))
    except ValueError as e:
        print('metrics_check: the status is not JSON: %r' % e)
        return 1
    failures = 0
    for exp in expectations:
        key, want = exp.split('=', 1)
        got = doc.get(key, '<missing>')
        if str(got) != want:
            print('metrics_check: %s is %r, want %s' % (key, got, want))
            failures += 1
    return 1 if failures else 0


if __name__ == '__main__':
    if len(sys.argv) >= 3 and sys.argv[1] == '--json':
        sys.exit(check_json(sys.argv[2], sys.argv[3:]))
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(check_page(sys.argv[1], sys.argv[2:]))
