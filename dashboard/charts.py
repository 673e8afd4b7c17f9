"""Plotly figures for the pages: every chart has a title and axis titles that carry its units."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

TIME_AXIS = "Time (UTC)"
HEIGHT = 330
Window = tuple[datetime, datetime]


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, height: int = HEIGHT) -> go.Figure:
    fig.update_layout(title={"text": title}, xaxis_title=x_title, yaxis_title=y_title, legend_title_text="",
                      height=height, margin={"t": 60})
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def over_time(df: pd.DataFrame, y: str, title: str, y_title: str, window: Window, bucket_s: int, *,
              bar: bool = False, percent: bool = False, color: str | None = "group") -> go.Figure:
    """One series per ``color`` value over the ``bucket`` column, across the whole ``window``.

    Bars (counts, tokens, cost) stack and span their bucket; line points sit at the bucket's start.
    """
    color = color if color is not None and color in df.columns else None
    if bar:
        fig = px.bar(df, x="bucket", y=y, color=color)
        fig.update_traces(offset=0, width=bucket_s * 1000 * 0.95)
    else:
        fig = px.line(df.dropna(subset=[y]), x="bucket", y=y, color=color, markers=True)
    if percent:
        fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(range=list(window))
    return _layout(fig, title, TIME_AXIS, y_title)


def percentiles_over_time(df: pd.DataFrame, prefix: str, quantiles: tuple[str, ...], title: str,
                          y_title: str, window: Window) -> go.Figure:
    """``prefix_p50``, ``prefix_p95``… as one line each."""
    cols = [f"{prefix}_{q}" for q in quantiles]
    long = df.melt(id_vars=["bucket"], value_vars=cols, var_name="percentile", value_name="value").dropna()
    long["percentile"] = long["percentile"].str.removeprefix(f"{prefix}_")
    fig = px.line(long, x="bucket", y="value", color="percentile", markers=True)
    fig.update_xaxes(range=list(window))
    return _layout(fig, title, TIME_AXIS, y_title)


def bars(df: pd.DataFrame, x: str, y: str, title: str, x_title: str, y_title: str,
         color: str | None = None) -> go.Figure:
    """Horizontal bars, largest on top (``y`` holds the categories)."""
    fig = px.bar(df, x=x, y=y, orientation="h", color=color)
    fig.update_yaxes(categoryorder="total ascending", type="category")
    return _layout(fig, title, x_title, y_title, height=max(HEIGHT, 60 + 28 * len(df)))


def share(df: pd.DataFrame, names: str, values: str, title: str) -> go.Figure:
    fig = px.pie(df, names=names, values=values, hole=0.45)
    fig.update_traces(texttemplate="%{label}<br>$%{value:.4f}")
    fig.update_layout(title={"text": title}, height=HEIGHT, margin={"t": 60})
    return fig


def waterfall(rows: list[dict[str, Any]], title: str) -> go.Figure:
    """A trace's spans as bars from their start to their end, in tree order, the root on top.

    ``rows`` carry ``label`` (unique, indented by depth), ``offset_ms``, ``duration_ms`` and ``kind``.
    """
    df = pd.DataFrame(rows)
    fig = px.bar(df, x="duration_ms", y="label", base="offset_ms", orientation="h", color="kind",
                 hover_data={"offset_ms": ":.1f", "duration_ms": ":.1f", "kind": True, "label": False},
                 color_discrete_map={"LLM call": "#1f77b4", "span": "#aab2bd", "error": "#d62728"})
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=list(df["label"]), type="category")
    return _layout(fig, title, "Milliseconds since the trace started", "", height=max(220, 60 + 30 * len(df)))
