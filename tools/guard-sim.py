#!/usr/bin/env python3
"""Drives a real `stockroom serve` over HTTP with labelled populations and prints, per
population, who was flagged (and by which detector), throttled, rate-limited and refused
at the quota, with the detectors' precision and recall.

Each simulated person binds their own loopback address (127.A.B.1, a network of its own
after anonymisation to /24), so the server sees networks as it would on the internet.
Populations (time is compressed: a session is seconds, not minutes):

  ordinary     registered customers: search, look at a few cards and previews, now and
               then license one they looked at; human gaps; some switch between two
               networks (home and phone)
  agency       unlimited members who look through a search, then license a batch by
               script (bursts of regular requests)
  team         unlimited memberships of 5 seats, each seat a person on their own network
  bulk         stockpiler: ids from outside (a scraped list), licensed as fast as allowed
  scripted     stockpiler: ids from outside, one every few seconds like clockwork
  sweeper      stockpiler: finds an author, licenses their whole portfolio, human gaps
  walker       stockpiler: walks the newest listing page by page, licensing every result
  shared       one registered key used by four people on four networks at once
  leaver       stockpiler: a paid membership ending in two days, emptied of what it can
               (ids from a list got elsewhere, never seen here, at human gaps)
  finisher     a paid membership ending in two days, used hard to finish a project:
               looks at each result first, licenses at the leaver's rate
  anonymous    no key: search, previews, free downloads

Positives: the four stockpiler styles for the stockpiling detector, `shared` for the
login-misuse detector. Usage: guard-sim.py --url http://127.0.0.1:PORT --setup FILE
(FILE: JSON from guard-sim.sh with the members' keys, the moderator's key and the
assets).
"""

import argparse
import http.client
import json
import random
import threading
import time
import urllib.parse
from collections import defaultdict

STOCKPILERS = ("bulk", "scripted", "sweeper", "walker", "leaver")


class Person:
    """One simulated person: a key (or none), a network, and what happened to them."""

    def __init__(self, sim, label, member, key, network):
        self.sim, self.label, self.member, self.key = sim, label, member, key
        self.networks = [network]
        # Where they are now: a person changes network between sessions, not per request.
        self.at = network
        self.rng = random.Random(hash((label, member, network)))
        self.counts = defaultdict(int)

    def request(self, method, path, network=None):
        source = network or self.at
        connection = http.client.HTTPConnection(
            self.sim.host, self.sim.port, timeout=120, source_address=(source, 0)
        )
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        try:
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            status, fields = response.status, {k.lower(): v for k, v in response.getheaders()}
        except OSError:
            self.counts["errors"] += 1
            return 0, {}, b""
        finally:
            connection.close()
        self.counts["requests"] += 1
        if status == 429:
            if b"licences you hold" in body:
                self.counts["quota_refused"] += 1
            else:
                self.counts["rate_limited"] += 1
            time.sleep(min(float(fields.get("retry-after", "1")), 30.0))
        return status, fields, body

    def search(self, query):
        status, _, body = self.request("GET", "/v1/search?" + urllib.parse.urlencode(query))
        if status != 200:
            return []
        return [result["id"] for result in json.loads(body)["results"]]

    def look(self, asset):
        if self.rng.random() < 0.5:
            self.request("GET", f"/v1/assets/{asset}")
        else:
            self.request("GET", f"/v1/previews/{asset}/small.jpg")

    def license(self, asset, network=None):
        status, _, body = self.request("POST", f"/v1/assets/{asset}/licenses", network)
        if status not in (200, 201):
            return
        self.counts["licences"] += 1
        url = json.loads(body)["download_url"]
        status, fields, _ = self.request("GET", url, network)
        if status == 200:
            self.counts["downloads"] += 1
            if "stockroom-throttle" in fields:
                self.counts["throttled"] += 1

    def pause(self, mean):
        time.sleep(min(self.rng.expovariate(1.0 / mean), 6 * mean))

    def running(self):
        return time.time() < self.sim.deadline


def words(sim, rng):
    return {"q": rng.choice(sim.words), "collection": "free", "per_page": 20}


def ordinary(person, gap=12.0, collection="free"):
    sim, rng = person.sim, person.rng
    while person.running():
        if len(person.networks) > 1 and rng.random() < 0.3:
            person.at = rng.choice(person.networks)
        query = words(sim, rng)
        query["collection"] = collection
        results = person.search(query)
        looked = rng.sample(results, min(len(results), rng.randint(1, 4)))
        for asset in looked:
            person.look(asset)
            person.pause(2.0)
        if looked and rng.random() < 0.5:
            person.license(rng.choice(looked))
        person.pause(gap)


def agency(person):
    sim, rng = person.sim, person.rng
    person.pause(20.0)
    while person.running():
        picked = []
        for _ in range(3):
            results = person.search({"q": rng.choice(sim.words), "per_page": 50})
            picked += results[:10]
            for asset in results[:10]:
                person.look(asset)
        for asset in picked[: rng.randint(12, 25)]:
            person.license(asset)
            time.sleep(rng.uniform(0.3, 0.5))
        person.pause(60.0)


def bulk(person):
    ids = list(person.sim.free)
    person.rng.shuffle(ids)
    for asset in ids:
        if not person.running():
            return
        person.license(asset)


def scripted(person):
    ids = list(person.sim.free)
    person.rng.shuffle(ids)
    time.sleep(person.rng.uniform(0, 5))
    for asset in ids:
        if not person.running():
            return
        person.license(asset)
        time.sleep(4.0 * person.rng.uniform(0.97, 1.03))


def sweeper(person):
    rng = person.rng
    authors = [author for author, count in person.sim.authors if count >= 15]
    while person.running():
        author = rng.choice(authors)
        portfolio = person.search({"author": author, "per_page": 100})
        rng.shuffle(portfolio)
        for asset in portfolio:
            if not person.running():
                return
            person.license(asset)
            person.pause(3.0)


def walker(person):
    page = person.rng.randint(1, 3)
    while person.running():
        results = person.search({"sort": "newest", "page": page, "per_page": 20})
        if not results:
            page = 1
            continue
        for asset in results:
            if not person.running():
                return
            person.license(asset)
            person.pause(3.0)
        page += 1


def ending(person, looks):
    """Before the membership ends, at human gaps (about one licence in seven seconds): a
    leaver licenses ids from a list got elsewhere, never seen here; a finisher searches
    and opens each result it licenses."""
    sim, rng = person.sim, person.rng
    while person.running():
        if looks:
            results = person.search({"q": rng.choice(sim.words), "per_page": 20})
            picked = rng.sample(results, min(len(results), 4))
        else:
            picked = rng.sample(sim.free, 4)
        for asset in picked:
            if not person.running():
                return
            if looks:
                person.look(asset)
            person.license(asset)
            person.pause(7.0)


def anonymous(person):
    ordinary(person, gap=15.0)


POPULATIONS = {
    "ordinary": ordinary,
    "agency": agency,
    "team": lambda person: ordinary(person, gap=8.0, collection="unlimited"),
    "bulk": bulk,
    "scripted": scripted,
    "sweeper": sweeper,
    "walker": walker,
    "shared": ordinary,
    "leaver": lambda person: ending(person, looks=False),
    "finisher": lambda person: ending(person, looks=True),
    "anonymous": anonymous,
}


class Sim:
    def __init__(self, url, setup, seconds):
        parsed = urllib.parse.urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port
        self.setup = setup
        self.free = setup["free"]
        self.authors = setup["authors"]
        self.words = setup["words"]
        self.deadline = time.time() + seconds
        self.next_network = 0

    def network(self):
        self.next_network += 1
        n = self.next_network
        return f"127.{1 + n // 250}.{n % 250 + 1}.1"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--setup", required=True)
    parser.add_argument("--seconds", type=float, default=180)
    args = parser.parse_args()
    setup = json.load(open(args.setup))
    sim = Sim(args.url, setup, args.seconds)

    people = []
    for member in setup["members"]:
        label = member["label"]
        keys = member["keys"]
        if label == "shared":
            # Four people, one key, four networks.
            for _ in range(4):
                people.append(Person(sim, label, member["id"], keys[0], sim.network()))
        elif label == "team":  # a seat each, each on its own network
            for key in keys:
                people.append(Person(sim, label, member["id"], key, sim.network()))
        else:
            person = Person(sim, label, member["id"], keys[0], sim.network())
            if label == "ordinary" and person.rng.random() < 0.3:
                person.networks.append(sim.network())  # home and phone
            people.append(person)
    for i in range(setup["anonymous"]):
        people.append(Person(sim, "anonymous", f"anonymous-{i}", None, sim.network()))

    threads = [
        threading.Thread(target=POPULATIONS[person.label], args=(person,), daemon=True)
        for person in people
    ]
    started = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, sim.deadline - time.time() + 150))
    took = time.time() - started

    moderator = Person(sim, "moderator", "moderator", setup["moderator"], "127.0.0.1")
    time.sleep(1.0)  # flags are recorded off the request path
    _, _, body = moderator.request("GET", "/v1/moderation/flags")
    flags = {flag["id"]: flag for flag in json.loads(body)["flags"]}

    by_member = defaultdict(lambda: defaultdict(int))
    labels = {}
    for person in people:
        labels[person.member] = person.label
        for name, value in person.counts.items():
            by_member[person.member][name] += value

    def flagged_by(member, detector):
        reasons = flags.get(member, {}).get("flag_reasons", [])
        return any(reason.startswith(detector) for reason in reasons)

    rows = defaultdict(lambda: defaultdict(int))
    for member, label in labels.items():
        row, counts = rows[label], by_member[member]
        row["members"] += 1
        row["flagged"] += member in flags
        row["stockpiling"] += flagged_by(member, "stockpiling")
        row["login"] += flagged_by(member, "login misuse")
        row["review"] += flagged_by(member, "quota review")
        row["throttled"] += counts["throttled"] > 0
        row["rate_limited"] += counts["rate_limited"] > 0
        row["quota_refused"] += counts["quota_refused"] > 0
        for name in ("requests", "licences", "downloads", "errors"):
            row[name] += counts[name]

    columns = ["members", "flagged", "stockpiling", "login", "throttled", "rate_limited",
               "quota_refused", "requests", "licences", "downloads", "errors"]
    print(f"simulated {took:.0f} s, {sum(r['requests'] for r in rows.values())} requests, "
          f"{len(people)} people\n")
    print(f"| population | {' | '.join(columns)} |")
    print(f"| --- | {' | '.join('---:' for _ in columns)} |")
    for label in POPULATIONS:
        if label in rows:
            print(f"| {label} | {' | '.join(str(rows[label][c]) for c in columns)} |")

    def detector(name, positives):
        members = [m for m, label in labels.items() if not m.startswith("anonymous")]
        tp = sum(flagged_by(m, name) for m in members if labels[m] in positives)
        fp = sum(flagged_by(m, name) for m in members if labels[m] not in positives)
        p = sum(labels[m] in positives for m in members)
        precision = tp / (tp + fp) if tp + fp else 1.0
        print(f"{name}: recall {tp}/{p} = {100 * tp / max(p, 1):.1f}%, "
              f"precision {tp}/{tp + fp} = {100 * precision:.1f}%")

    print()
    detector("stockpiling", STOCKPILERS)
    detector("login misuse", ("shared",))
    ordinary_rows = rows["ordinary"]
    print(f"false flags of ordinary members: {ordinary_rows['flagged']}/{ordinary_rows['members']}"
          f" = {100 * ordinary_rows['flagged'] / max(ordinary_rows['members'], 1):.2f}%")
    legit = [label for label in ("ordinary", "agency", "team", "finisher", "anonymous")
             if label in rows]
    falsely = sum(rows[label]["flagged"] for label in legit)
    total = sum(rows[label]["members"] for label in legit if label != "anonymous")
    print(f"false flags of all legitimate members (ordinary, agency, team, finisher): "
          f"{falsely}/{total}")
    ending = [flag for member, flag in flags.items()
              if any("membership ends" in reason for reason in flag["flag_reasons"])]
    print(f"flags citing the ending signal: {len(ending)} "
          f"({sum(labels.get(m) == 'leaver' for m in flags if flags[m] in ending)} leavers)")
    for member, flag in flags.items():
        if labels.get(member) not in STOCKPILERS + ("shared",):
            print(f"  false flag ({labels.get(member)}): {flag['flag_reasons']}")


if __name__ == "__main__":
    main()
