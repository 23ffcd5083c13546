"""Invoices (notas fiscais): uploaded CSV/JSON/JSONL files read as streams, validated row by row, stored."""
