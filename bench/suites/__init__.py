"""The benchmarks, one module each; importing this package registers them all.

To add a row to the report, add a module here with one `@benchmark("name")` function and import
it below.
"""

import bench.suites.checkpoint_floor
import bench.suites.cli_startup
import bench.suites.concurrency
import bench.suites.eval_throughput
import bench.suites.fanout
import bench.suites.history
import bench.suites.kill_running
import bench.suites.ledger_and_kill
import bench.suites.processes
import bench.suites.relay_throughput
import bench.suites.research_fanout
import bench.suites.resume
import bench.suites.routing_overhead
import bench.suites.runner_overhead
import bench.suites.server_latency
import bench.suites.support_runs  # noqa: F401  (imported for registration)
