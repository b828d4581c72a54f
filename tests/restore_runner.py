"""Run one restore in its own process (tests/test_restore_resume.py kills it with SIGKILL mid-run).

Usage: python -m tests.restore_runner JOB.json, where the job names the emulator, the catalog, the plan
and the request; each finished step is slowed down a little so the killer finds the run half done.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from core.catalog import Catalog
from core.graph import ClientSecret, GraphClient, GraphConfig
from core.restore.executor import RestoreExecutor, StepEvent
from core.restore.graph_live import GraphLiveTenant
from core.restore.journal import Journal
from core.restore.model import Plan


async def main(job: dict[str, Any]) -> None:
    config = GraphConfig(
        tenant_id=job["tenant_id"],
        client_id=job["client_id"],
        credential=ClientSecret(job["client_secret"]),
        graph_url=job["graph_url"],
        authority_host=job["graph_url"],
        ca_bundle=job["ca_path"],
    )
    plan = Plan.from_json(job["plan"])
    catalog = Catalog(job["catalog_url"])

    async def slowly(event: StepEvent) -> None:
        if event.state == "done":
            await asyncio.sleep(job["step_delay_s"])

    try:
        async with GraphClient(config) as graph:
            executor = RestoreExecutor(graph=graph, live=GraphLiveTenant(graph), journal=Journal(catalog))
            result = await executor.run(plan, request_id=job["request_id"], progress=slowly)
        print(json.dumps(result.to_json()))
    finally:
        catalog.close()


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
