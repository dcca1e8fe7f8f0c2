"""Reports people look at: a QBR pack per account and a monthly portfolio report.

`timeline` computes the account records (and the engine's snapshot) at instants of a
period through the history's incremental replay, so every figure equals what
`pulse accounts --as-of T` / `pulse replay --as-of T` give at the same instant; `charts`
draws inline SVG with pygal; `qbr` and `portfolio` build each report's figures and render
them with Jinja2 templates into one self-contained, printable HTML file.
"""
