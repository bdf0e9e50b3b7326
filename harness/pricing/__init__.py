"""Cloud prices: frozen quotes from dated sources, and the book of quotes in force.

Sources, each returning `PriceQuote` rows that carry their source and as-of date:
  - the bundled dated snapshot (harness/pricing/data/aws-*.json), see `snapshot.py`;
  - user snapshots written by `harness prices refresh` (AWS Price List API + spot), see `aws.py`;
  - a user CSV (`--prices FILE`), see `user_csv.py`.
The file formats (snapshot, user CSV) are typed contracts with migrations from their older versions: `formats.py`.
The instance catalogue (CPU model, ISA, GPUs) is `catalog.py`; published GPU figures `gpu_reference.py`.

`load_price_book()` layers them: for each (instance, region, purchase option) the user CSV wins, then
the newest user snapshot that has the cell, then older ones, then the bundled snapshot. Every quote keeps
its own source and date, so a mixed book is still fully attributed.

This module stays light (no boto3, no pandas): the CLI imports it for `--help`.
"""

from .book import load_price_book, stale_warnings
from .quotes import (
                     PURCHASE_OPTIONS,
                     PriceBook,
                     PriceLayer,
                     PriceQuote,
                     current_date,
                     parse_source_date,
                     validate_instance_name,
                     validate_region,
)

__all__ = ["PURCHASE_OPTIONS", "PriceBook", "PriceLayer", "PriceQuote", "current_date", "load_price_book",
           "parse_source_date", "stale_warnings", "validate_instance_name", "validate_region"]
