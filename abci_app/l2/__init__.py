"""The L2 side: following the L2 node (follower.py) and producing L2 blocks in turn (agent.py)."""
