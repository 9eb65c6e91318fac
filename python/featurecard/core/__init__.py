"""What every view shares: model and SAE adapters, input checks, wire schema and codecs, view base, export."""
