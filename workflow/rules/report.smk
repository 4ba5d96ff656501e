# Report stage: tables, figures and the reproduction summary, registered for `snakemake --report`.


rule report:
    """Build every table (CSV/Markdown/LaTeX), figure (PNG/PDF) and results/summary.md."""
    input:
        unpack(report_inputs),
    output:
        tables=report(
            expand("results/tables/{name}.{ext}", name=REPORT_TABLES, ext=("csv", "md", "tex")),
            caption="../report/tables.rst",
            category="Tables",
        ),
        figures=report(
            directory("results/figures"),
            patterns=["{name}.png", "listening/{name}.wav"],
            caption="../report/figures.rst",
            category="Figures",
        ),
        summary=report("results/summary.md", caption="../report/summary.rst", category="Summary"),
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    conda:
        "../envs/staa.yaml"
    params:
        p=report_params,
        tables_dir=lambda wc, output: str(Path(output.tables[0]).parent),
    shell:
        staa_cli(
            "report --tables-dir {params.tables_dir:q} --figures-dir {output.figures:q} --summary {output.summary:q} "
            "--victims {input.victims:q} --attacks {input.attacks:q} --timing {input.timing:q} "
            "--victim-logs {input.victim_logs:q} --generator-logs {input.generator_logs:q} "
            "--examples {input.examples:q} --params {params.p:q} > {log:q} 2>&1"
        )
