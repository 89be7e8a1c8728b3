"""Serving content: who is asking, what the policy says, licence and payment checks, metering."""
