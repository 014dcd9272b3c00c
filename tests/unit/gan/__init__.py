"""Tests of gan."""
