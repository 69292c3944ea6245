"""torch_allreduce(): a hook for VAE.set_allreduce made of torch.distributed,
so that the ranks of a torch.distributed process group (gloo on the CPU,
NCCL on GPUs) train one model together. PyTorch is imported only when the
hook is made."""
from typing import Any, Callable, Optional


def torch_allreduce(group: Any = None) -> Callable[[Any, Optional[int]], None]:
    """A hook that sums each step's buffer over `group` (None: the default
    group) with torch.distributed.all_reduce, in place: on the CPU backend
    through torch.from_numpy, on the CUDA backend through torch.from_dlpack
    on the model's stream. Call torch.distributed.init_process_group first;
    give each rank's model its rank and the group's size:

        model = libvae.VAE(rank=dist.get_rank(), world_size=dist.get_world_size())
        model.set_allreduce(libvae.torch_allreduce())
    """
    import torch
    import torch.distributed as dist

    def hook(buffer: Any, stream: Optional[int]) -> None:
        if stream is None:
            dist.all_reduce(torch.from_numpy(buffer), group=group)
            return
        _, device = buffer.__dlpack_device__()
        with torch.cuda.device(device), torch.cuda.stream(torch.cuda.ExternalStream(stream, device=device)):
            dist.all_reduce(torch.from_dlpack(buffer), group=group)

    return hook
