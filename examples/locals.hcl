# One list of tables shared by input and output, a password from a sensitive variable,
# and a connection string built from both. Try:
#   DSTREAM_VAR_db_password=secret dstream show orders -c examples/locals.hcl
locals {
  tables = ["public.orders", "public.customers"]
  db     = "shop"
  dsn    = "postgresql://app:${var.db_password}@127.0.0.1:5432/${local.db}"
}

variable "db_password" {
  description = "password of the app user"
  sensitive   = true
}

variable "batch_size" {
  type    = number
  default = 500
}

task "orders" {
  input {
    provider_path = "dstream-counter"
    config {
      dsn        = local.dsn
      tables     = local.tables
      batch_size = var.batch_size
    }
  }

  output {
    provider_path = "dstream-console"
    config {
      format = "simple"
      topics = [for t in local.tables : "${local.db}_${replace(t, ".", "_")}"]
    }
  }

  max_frame_size = "16MiB"
  invalid_frames = "fail"
  restart {
    attempts = 3
    backoff  = "1s"
  }
}
