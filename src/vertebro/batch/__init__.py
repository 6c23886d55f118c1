"""Batch evaluation at payer scale: policies compiled to set-based SQL, run on DuckDB or Spark.

An adapter layer: it imports `vertebro.core` and `vertebro.adapters`, and nothing imports it
except the command line. See docs/batch.md for the design and when to use which engine.
"""
