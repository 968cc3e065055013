"""`torchclassify report RUN`: rebuild the run's self-contained report.html."""

from __future__ import annotations

from pathlib import Path

from .common import imports_kept, output_path


def register(sub) -> None:
    report = sub.add_parser("report", help="rebuild a run's report.html (one self-contained page)",
                            description="Rebuild RUN/report.html: data and model summary, config, metrics and "
                                        "all pictures, images embedded, readable offline in any browser.")
    report.add_argument("run", type=Path, help="run folder written by train")
    report.add_argument("-o", "--output", type=output_path, help="file to write (default: RUN/report.html)")
    report.add_argument("--trust-custom-model", action="store_true", help="allow importing a custom model class")


def execute(args) -> int:
    with imports_kept(args):
        from ..errors import ConfigError, printable
        from ..outputs import check_output, parents_made
        from ..plots import import_matplotlib
        from ..report import RunView, write_report
        from ..run_folder import run_files

        import_matplotlib()  # the report draws its figures with it

    output = args.output or args.run / "report.html"
    check_output(output, ConfigError, "-o", inputs=run_files(args.run))
    view = RunView.from_folder(args.run, trust_custom_model=args.trust_custom_model)
    check_output(output, ConfigError, "-o", inputs=[view.config.get("data", {}).get("source")])
    with parents_made(output):
        write_report(view, output)
    if view.data_note:
        print(printable(f"note: {view.data_note}"))
    print(printable(str(output)))
    return 0
