# One list of tables shared by input and output, a number from a variable, a path built
# from a local, and a secret that never reaches the output or the logs. Try:
#   DSTREAM_VAR_api_token=secret dstream show orders -c examples/locals.hcl
#   DSTREAM_VAR_api_token=secret dstream run -c examples/locals.hcl
locals {
  tables = ["public.orders", "public.customers"]
  db     = "shop"
}

variable "api_token" {
  description = "a secret: `dstream show` prints *** in its place"
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
      interval         = 0
      max_count        = var.batch_size
      checkpoint_every = 100
      tables           = local.tables
    }
  }

  output {
    provider_path = "dstream-file"
    config {
      path = "out/${local.db}/{TableName}.jsonl" # one file per table
    }
  }

  max_frame_size = "16MiB"
  invalid_frames = "fail"
  restart {
    attempts = 3
    backoff  = "1s"
  }
}
