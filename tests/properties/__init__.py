"""Tests by property, across backends: secrets, faults, fuzzing, reliability, hardening."""
