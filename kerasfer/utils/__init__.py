"""Small shared utilities (file writing, seeding)."""
