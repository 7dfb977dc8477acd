"""The argument parser of `roundtable`: every command, its flags and its help."""

from __future__ import annotations

import argparse

from roundtable_tui import __version__
from roundtable_tui.cli.kernels import cmd_bench, cmd_check, cmd_problems, cmd_templates
from roundtable_tui.cli.run import cmd_run, cmd_tui
from roundtable_tui.cli.sessions import cmd_replay, cmd_report, cmd_sessions
from roundtable_tui.cli.setup import cmd_doctor, cmd_model, cmd_papers
from roundtable_tui.core.prompts import STRATEGIES
from roundtable_tui.kernels import problems
from roundtable_tui.kernels.verdict import VERDICT_HELP, Verdict


def _run_options(p: argparse.ArgumentParser) -> None:
    """The options of a run, the same for `run --auto` and `tui` (`core.run.RunSpec`)."""
    p.add_argument("--problem", "-p", choices=list(problems.PROBLEMS), help="default sgemm")
    p.add_argument("--model", "-m", help="embedded (default), small, PATH.gguf, openai:URL#MODEL")
    p.add_argument(
        "--iterations",
        "-n",
        type=int,
        help="the session's iterations in total (default: 5 for a new session, 5 more than "
        "a resumed one has finished)",
    )
    p.add_argument("--minutes", type=float, help="stop after this many minutes")
    p.add_argument("--max-tokens", type=int, help="stop after this many model tokens")
    p.add_argument("--patience", type=int, help="stop after N iterations without improvement")
    p.add_argument("--repairs", type=int, help="repairs per kernel (2)")
    p.add_argument("--session", help="name of a new session, or an existing one to continue")
    p.add_argument("--resume", metavar="ID", help="continue a saved session")
    p.add_argument("--allow-unsafe", action="store_true", help="let kernels use unsafe")
    p.add_argument(
        "--strategy",
        choices=list(STRATEGIES),
        default="mixed",
        help="mixed (default): the Proposer tunes the problem's template or proposes free-form "
        "code; parameters: template only; code: free-form only",
    )
    p.add_argument(
        "--search",
        choices=["both", "model", "optimizer"],
        default="both",
        help="who picks template parameter sets: both (default: in turn, one of the "
        "optimizer's candidates the model picks, the defaults first, and a set of the model's "
        "own; the optimizer's when the model's repeats or is invalid), model (the Proposer "
        "alone), optimizer (no model)",
    )
    p.add_argument(
        "--confirm-rounds",
        type=int,
        help="interleaved rounds that decide whether a kernel beats the best (4; 0: one check)",
    )
    p.add_argument(
        "--no-knowledge",
        action="store_true",
        help="run without the knowledge base (papers and past attempts)",
    )
    p.add_argument(
        "--edit-format",
        choices=["blocks", "lines"],
        default="blocks",
        help="how the Coder writes a code edit: blocks (default: the part's new text or "
        "SEARCH/REPLACE blocks) or lines (REPLACE a-b … END against the part's numbered "
        "lines, held to a grammar)",
    )
    p.add_argument(
        "--start-from",
        metavar="template|FILE.rs",
        help="a new session's starting kernel instead of the naive one: `template` (the "
        "problem's template with this machine's defaults: code proposals then edit its "
        "regions) or a kernel file",
    )


def build_parser() -> argparse.ArgumentParser:
    verdicts = "\n".join(f"  {v:<14} {VERDICT_HELP[v]}" for v in Verdict)
    parser = argparse.ArgumentParser(
        prog="roundtable",
        description="A roundtable of local-LLM agents searching for fast Rust matmul kernels, "
        "with a checker that cannot be fooled.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"roundtable {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser(
        "check",
        help="verdict and speed figures for one kernel file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Static gate → build → correctness → benchmark → one verdict.\n"
        "Exit status 0 only for `passed`.",
        epilog=f"verdicts:\n{verdicts}\n\nexample:\n  roundtable check my_sgemm.rs --problem sgemm",
    )
    c.add_argument("kernel", help="the kernel's Rust source file")
    c.add_argument(
        "--problem",
        "-p",
        choices=list(problems.PROBLEMS),
        help="which contract the kernel implements (inferred from its pub fn if omitted)",
    )
    c.add_argument(
        "--json", action="store_true", help="print one JSON object (the last line of stdout)"
    )
    c.add_argument(
        "--allow-unsafe",
        action="store_true",
        help="allow `unsafe` code in the kernel (it is forbidden by default)",
    )
    c.add_argument("--shape", help="benchmark shape, e.g. 1024x1024x1024 or m=512,n=512,k=256")
    c.add_argument(
        "--no-baselines",
        action="store_true",
        help="skip timing naive and OpenBLAS beside the kernel (faster; no ratios)",
    )
    c.add_argument(
        "--budget-ms",
        type=float,
        default=1500.0,
        help="time to spend on the kernel's timed calls (default 1500)",
    )
    c.add_argument("--timeout", type=float, help="wall-clock limit of the run in seconds")
    c.add_argument("--memory-mb", type=int, help="memory limit of the run in MiB")
    c.add_argument("--seed", type=int, help="master seed (random by default; for reproducing)")
    c.add_argument(
        "--asm",
        action="store_true",
        help="also show what the compiler made of each function (packed/scalar FMAs, "
        "stack accesses)",
    )
    c.set_defaults(func=cmd_check)

    b = sub.add_parser("bench", help="naive, rayon, OpenBLAS and peak GFLOPS per problem")
    b.add_argument("--problem", "-p", choices=list(problems.PROBLEMS))
    b.add_argument("--shape", help="shape instead of the problem's default")
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")
    b.set_defaults(func=cmd_bench)

    d = sub.add_parser("doctor", help="what is installed and which protections are active")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_doctor)

    tui = sub.add_parser(
        "tui",
        help="the supervised session (the default command)",
        description="The roundtable in a terminal UI; every kernel waits for your review. "
        "It takes the options of `roundtable run` and offers them in its new-session form (n).",
    )
    _run_options(tui)
    tui.add_argument("--start", action="store_true", help="start a new session at once")
    tui.set_defaults(func=cmd_tui)

    te = sub.add_parser(
        "templates",
        help="the parameterised kernel families: list, show, render",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  roundtable templates show sgemm/blis\n"
        "  roundtable templates render sgemm/blis kc=384 mc=144 -o k.rs && roundtable check k.rs",
    )
    tes = te.add_subparsers(dest="action", required=True, metavar="ACTION")
    tes.add_parser("list", help="every template family")
    tsh = tes.add_parser("show", help="a template's parameters, ranges and rules")
    tsh.add_argument("template", help="template id (sgemm/blis) or problem name")
    tre = tes.add_parser("render", help="fill a template in with NAME=VALUE settings")
    tre.add_argument("template", help="template id (sgemm/blis) or problem name")
    tre.add_argument("assignments", nargs="*", metavar="NAME=VALUE")
    tre.add_argument("-o", "--output", help="write the kernel here instead of stdout")
    te.set_defaults(func=cmd_templates)

    p = sub.add_parser("problems", help="the four kernel contracts")
    p.set_defaults(func=cmd_problems)

    r = sub.add_parser(
        "run",
        help="a headless session: agents propose, write and test kernels",
        description="Runs the roundtable without the TUI. Every kernel is approved by a policy "
        "(it must pass the static gate) instead of a human.",
        epilog="examples:\n  roundtable run --auto --problem sgemm --iterations 5\n"
        "  roundtable run --auto --resume 20261121-2010-sgemm-ab12\n\n"
        "exit status: 0 finished (budget reached), 3 stopped by an error, "
        "130 interrupted (resumable), 2 bad arguments",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("--auto", action="store_true", help="approve kernels by policy (required)")
    _run_options(r)
    r.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    r.add_argument("--timeout", type=float, help="wall-clock limit of one kernel run (s)")
    r.add_argument(
        "--record",
        metavar="FILE",
        help="append every model reply to FILE (JSONL) for scripted replays",
    )
    r.set_defaults(func=cmd_run)

    rp = sub.add_parser("replay", help="replay a saved session")
    rp.add_argument("session", help="session id (or a unique prefix, or a directory)")
    rp.add_argument("--headless", action="store_true", help="print the transcript per agent")
    rp.add_argument(
        "--rebench",
        action="store_true",
        help="re-check every recorded kernel on this machine, old vs new figures",
    )
    rp.set_defaults(func=cmd_replay)

    se = sub.add_parser(
        "sessions",
        help="saved sessions: list, show, export",
        description="list: every saved session\n"
        "show ID: its machine and leaderboard\n"
        "export ID: its best passed kernel as a standalone Cargo crate (the kernel as a library,\n"
        "  a correctness test against an f64 reference, a timing example, a README with its\n"
        "  figures)",
        epilog="ID is a session id, a unique prefix of one, or a session directory.\n\n"
        "examples:\n  roundtable sessions list\n  roundtable sessions show example-sgemm-small\n"
        "  roundtable sessions export example-sgemm-small -o sgemm-kernel\n\n"
        "export takes the fastest passed kernel the agents wrote; the naive starting point\n"
        "only when none of theirs passed; a session where nothing passed is an error (exit 2).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    se.add_argument("action", choices=["list", "show", "export"])
    se.add_argument("session", nargs="?", metavar="ID", help="the session (show, export)")
    se.add_argument("--json", action="store_true", help="list: print JSON")
    se.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help="export: the crate's directory (default ./<problem>-<session id>)",
    )
    se.add_argument("--force", action="store_true", help="export: write into a non-empty directory")
    se.set_defaults(func=cmd_sessions)

    rep = sub.add_parser(
        "report",
        help="one self-contained HTML report of a saved session",
        description="Writes one HTML file: the session's problem, model and machine; the best\n"
        "GFLOPS over iterations against naive, rayon, OpenBLAS and the machine's peak; a\n"
        "roofline of every passed kernel; the leaderboard with every verdict; the winning\n"
        "kernel's source. Charts are embedded: the file needs nothing else.",
        epilog="The roofline's memory roof is this machine's bandwidth, measured once "
        "(under a second) and cached.\n\nexample:\n  roundtable report example-sgemm-small "
        "--open",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rep.add_argument("session", metavar="ID", help="session id, unique prefix, or directory")
    rep.add_argument(
        "-o", "--output", metavar="FILE", help="where to write (default <session dir>/report.html)"
    )
    rep.add_argument("--open", action="store_true", help="open the report in a web browser")
    rep.set_defaults(func=cmd_report)

    pa = sub.add_parser("papers", help="the knowledge base: index, search, stats")
    pas = pa.add_subparsers(dest="action", required=True, metavar="ACTION")
    pi = pas.add_parser("index", help="index papers/ (or PATH) incrementally")
    pi.add_argument("path", nargs="?")
    pi.add_argument(
        "--rebuild",
        action="store_true",
        help="start a new store from papers/ and the sessions' attempts (the fix for a "
        "damaged or incompatible store; the old one is moved aside)",
    )
    ps = pas.add_parser("search", help="the chunks nearest to QUERY")
    ps.add_argument("query", nargs="+")
    ps.add_argument("-k", type=int, default=5, help="how many (5)")
    ps.add_argument("--json", action="store_true")
    pst = pas.add_parser("stats", help="files, chunks, collections, model")
    pst.add_argument("--json", action="store_true")
    pa.set_defaults(func=cmd_papers)

    mo = sub.add_parser("model", help="the embedded GGUF models: fetch, list, path")
    mo.add_argument("action", choices=["fetch", "list", "path"])
    mo.add_argument("names", nargs="*", help="embedded and/or small (default embedded)")
    mo.add_argument("--force", action="store_true", help="fetch again even if present")
    mo.set_defaults(func=cmd_model)
    # every command builds, runs or describes kernels for one CPU: the flag goes anywhere
    target = dict(
        metavar="NAME",
        help="build kernels for this CPU (rustc -C target-cpu: x86-64-v3 for AVX2, znver3, "
        "x86-64-v4…); templates, tests and the OpenBLAS anchor follow its ISA",
    )
    parser.add_argument("--target-cpu", **target)

    def add_target(command: argparse.ArgumentParser) -> None:
        command.add_argument("--target-cpu", default=argparse.SUPPRESS, **target)
        for action in command._actions:  # and the actions of `templates`, `sessions`…
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    add_target(child)

    for command in sub.choices.values():
        add_target(command)
    return parser
