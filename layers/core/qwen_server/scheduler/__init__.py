"""Admission control: per-class concurrency caps, bounded FIFO queues, wait timeouts, tenant fairness."""
