"""Command-line tools: tritium-opt."""
