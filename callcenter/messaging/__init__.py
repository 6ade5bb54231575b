"""Text messages: providers, the outbox, templates, replies, and the thread on the patient's card."""
