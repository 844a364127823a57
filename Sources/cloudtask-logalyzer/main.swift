// cloudtask-logalyzer: being written.
print("cloudtask-logalyzer: not yet")
