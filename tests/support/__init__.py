"""Test scaffolding: the scenario builder, emulator shims, fault injection, the oracle.

Importing it limits moto's EC2 to its stock AMIs (moto_amis.py) before any of it imports moto:
the tests, the demo and the benchmark all reach moto through here.
"""

from tests.support import moto_amis

moto_amis.stock_amis_only()
