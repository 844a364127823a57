// cloudtask-get [worker options] REMOTE LOCALDIR: REMOTE from every worker into LOCALDIR/<worker>/ (see Sources/FleetCopyCommand).
import FleetCopyCommand

CopyCommand.main(.get)
