"""Node functions, grouped by workflow; gates live beside the nodes they judge."""
