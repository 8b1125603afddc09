"""Organization mode: one hub stack, and the member templates its StackSets deploy.

- ``hub.py``: the hub stack (bus, rules, queue, the remediator reading it, state, topic, the
  role that assumes the member role) in one account and home region.
- ``members.py``: the two member templates, synthesised in a stage of the same app: one per
  account (the member role, the forwarder role, optionally a trail) and one per region (the
  forwarding rules on the default bus).
- ``stacksets.py``: the service-managed StackSets that deploy them to the organizational units.
"""
