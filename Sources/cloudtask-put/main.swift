// cloudtask-put [worker options] LOCAL REMOTE: LOCAL to REMOTE on every worker (see Sources/FleetCopyCommand).
import FleetCopyCommand

CopyCommand.main(.put)
