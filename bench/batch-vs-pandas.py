"""The pandas engine of bench/batch-vs-duckdb.ts: the same job as its raw DuckDB SQL, in a process of its own.

Read every column as text, type it (a value that does not parse is missing, as DuckDB's try_cast), the same checks,
the earliest event per order_id (ties by user_id, product_id), the minute facts and the daily facts, Parquet out
through pyarrow (revenue as DECIMAL(38, 2) from exact cents). Imports happen before the clock starts; prints one JSON
line: {"ms": ..., "cpuMs": ...} (CPU time of the process, every thread).

    python3 bench/batch-vs-pandas.py <csv> <out dir>
"""

import json
import os
import sys
import time
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CENT = pa.scalar(Decimal("0.01"), pa.decimal128(3, 2))


def facts_of(csv: str) -> pd.DataFrame:
    raw = pd.read_csv(csv, dtype=str, keep_default_na=False)
    quantity = pd.to_numeric(raw["quantity"], errors="coerce")
    price = pd.to_numeric(raw["unit_price"], errors="coerce")
    typed = pd.DataFrame(
        {
            "order_id": raw["order_id"].replace("", None),
            "user_id": raw["user_id"].replace("", None),
            "product_id": raw["product_id"].replace("", None),
            "quantity": quantity,
            # DECIMAL(18, 2) as whole cents, rounded as DuckDB's cast rounds
            "unit_price_cents": (price * 100).round(),
            "currency": raw["currency"].replace("", "USD"),
            "event_time": pd.to_datetime(raw["event_time"], format="ISO8601", utc=True, errors="coerce"),
        }
    )
    valid = typed[
        typed["order_id"].notna()
        & typed["user_id"].notna()
        & typed["product_id"].notna()
        & (quantity == quantity.round())
        & typed["quantity"].between(1, 100_000)
        & typed["unit_price_cents"].between(0, 100_000_000)
        & typed["currency"].str.fullmatch("[A-Z]{3}")
        & typed["event_time"].notna()
    ]
    facts = valid.sort_values(["event_time", "user_id", "product_id"], kind="stable").drop_duplicates(
        "order_id", keep="first"
    )
    facts = facts.assign(
        quantity=facts["quantity"].astype("int64"), unit_price_cents=facts["unit_price_cents"].astype("int64")
    )
    return facts.assign(revenue_cents=facts["quantity"] * facts["unit_price_cents"])


def measures(facts: pd.DataFrame, keys: list) -> pa.Table:
    grouped = (
        facts.groupby(keys, sort=False, observed=True)
        .agg(orders=("order_id", "size"), units=("quantity", "sum"), revenue_cents=("revenue_cents", "sum"))
        .reset_index()
    )
    table = pa.Table.from_pandas(grouped, preserve_index=False)
    cents = table["revenue_cents"].cast(pa.decimal128(20, 0))
    revenue = pc.multiply(cents, CENT).cast(pa.decimal128(38, 2))
    return table.drop_columns(["revenue_cents"]).append_column("revenue", revenue)


def main() -> None:
    csv, out_dir = sys.argv[1], sys.argv[2]
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    facts = facts_of(csv)
    minute = measures(
        facts.assign(window_start=facts["event_time"].dt.floor("min")), ["window_start", "product_id", "currency"]
    )
    pq.write_table(minute, os.path.join(out_dir, "sales_minute.parquet"))
    daily = measures(facts.assign(day=facts["event_time"].dt.date), ["day", "product_id", "currency"])
    pq.write_table(daily, os.path.join(out_dir, "daily_sales.parquet"))
    order_facts = facts.drop(columns=["revenue_cents"])
    pq.write_table(pa.Table.from_pandas(order_facts, preserve_index=False), os.path.join(out_dir, "order_facts.parquet"))
    print(json.dumps({"ms": (time.perf_counter() - t0) * 1000, "cpuMs": (time.process_time() - cpu0) * 1000}))


if __name__ == "__main__":
    main()
