"""The node agent's overhead per job: how long `nnet node run` takes to react on a devnet.

The quickstart's setup (nnet.services.quickstart: keys, a devnet daemon with 0.2 s blocks and
20-block epochs, four nodes staked and registered), then its agents: `nnet node run` for the GPU
node (worker) and three verifier-only agents. N jobs (default 3) are submitted one after another,
each once the previous one has settled. For each job, from chain data alone (event heights through
GET /events, block header time_ms):

- submitted -> claimed: the worker agent noticing the job, checking it fits (spec fetched and
  checked, environment class measured on the first job) and its job.claim committed;
- challenged -> opened: from the block where the last verifier's seed fixed the challenge
  (`proof.challenged`) to the block with the worker's `proof.open`, i.e. the agent noticing,
  uploading the challenged checkpoints and its transaction committed.

Both in blocks and in seconds. Run: `.venv/bin/python bench/bench_agent.py [--jobs N]`; the table
goes to stdout, the figures to bench/results/agent.json, the narration to stderr.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nnet.client import NodeClient
from nnet.services.quickstart import (
    act_chain,
    act_keys,
    act_nodes,
    follow_job,
    start_agents,
    submit_job,
    write_jobs,
)
from nnet.services.tour import Tour

RESULTS = Path(__file__).resolve().parent / "results" / "agent.json"
MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist-t10k"
BLOCK_TIME = 0.2  # act_chain's


def job_events(client: NodeClient, job: int) -> dict[str, int]:
    """The first height of each event type the chain has for `job` (read up to the head)."""
    done = False

    def on_page(cursor: str, head: int) -> None:
        nonlocal done
        done = cursor == str(head + 1)

    first: dict[str, int] = {}
    for e in client.events(1, wait_s=0, on_page=on_page, until=lambda: done):
        if e.get("job") == job:
            first.setdefault(str(e["type"]), int(e["height"]))
    return first


def measure(client: NodeClient, job: int) -> dict[str, Any]:
    heights = job_events(client, job)
    times = {}
    for name, h in heights.items():
        times[name] = int(client.block(h)["header"]["time_ms"])
    row: dict[str, Any] = {"job": job, "heights": heights}
    for label, a, b in (
        ("submitted_to_claimed", "job.submitted", "job.claimed"),
        ("challenged_to_opened", "proof.challenged", "proof.opened"),
    ):
        row[label] = {
            "blocks": heights[b] - heights[a],
            "seconds": round((times[b] - times[a]) / 1000, 2),
        }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3)
    args = parser.parse_args()
    data = MNIST if (MNIST / "t10k-images-idx3-ubyte.gz").is_file() else None
    home = Path(tempfile.mkdtemp(prefix="nnet-bench-agent-"))
    rows = []
    started = time.monotonic()
    try:
        with Tour(home) as tour:
            addr = act_keys(tour)
            act_chain(tour, addr)
            act_nodes(tour)
            spec, _, dataset = write_jobs(tour, data)
            tour.act("the agents, and jobs one after another")
            start_agents(tour)
            with NodeClient(tour.url) as client:
                for _ in range(args.jobs):
                    job = submit_job(tour, spec)
                    view = follow_job(tour, job, "gpu")
                    if view["status"] != "accepted":
                        raise SystemExit(f"job {job} settled {view['status']}")
                    rows.append(measure(client, job))
    finally:
        shutil.rmtree(home, ignore_errors=True)

    print(f"{'job':>4} {'submitted->claimed':>22} {'challenged->opened':>22}")
    for r in rows:
        a, b = r["submitted_to_claimed"], r["challenged_to_opened"]
        print(
            f"{r['job']:>4} {a['seconds']:>8.2f} s {a['blocks']:>4} blocks "
            f"{b['seconds']:>8.2f} s {b['blocks']:>4} blocks"
        )
    for label in ("submitted_to_claimed", "challenged_to_opened"):
        secs = [r[label]["seconds"] for r in rows]
        print(f"{label}: median {statistics.median(secs):.2f} s, max {max(secs):.2f} s")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "block_time_s": BLOCK_TIME,
                "dataset": dataset,
                "machine": f"{platform.machine()}, {platform.python_version()}",
                "wall_s": round(time.monotonic() - started, 1),
                "jobs": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"(figures in {RESULTS})", file=sys.stderr)


if __name__ == "__main__":
    main()
