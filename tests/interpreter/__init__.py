"""Tests of tritium.interpreter."""
