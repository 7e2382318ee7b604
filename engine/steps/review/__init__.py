"""The review step: processing by staff and routing to the group that acts on a case."""
