"""The ComfyUI V3 node schema (`comfy_api.latest`) of IN2_LoadModel and IN2_Inpaint.

Imported only inside ComfyUI (from `comfy_entrypoint`): it says everything a user sees
(ids, display names, tooltips, types, defaults) and hands the work to `loader` / `inpaint`,
which run without ComfyUI. Node ids are the ones saved workflows use; the input and output
ids of a node differ, as V3 requires.
"""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from in2.options import BLENDS, CROPS, DTYPE_CHOICES, MODES
from in2.regions import DEFAULT_CONTEXT

from . import model_store
from .inpaint import check_widgets, cpu_size_hint, run_inpaint
from .loader import CATEGORY, DEVICES, load_in2_model

IN2ModelType = io.Custom("IN2_MODEL")
FILL_RULE = "values at or above threshold (0.5 unless changed) are filled, lower values are kept"


class IN2LoadModel(io.ComfyNode):
    """Loads an IN2 model (bundled demo, `models/in2` folder or Hugging Face) for IN2_Inpaint."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="IN2_LoadModel",
            display_name="IN2 Load Model",
            category=CATEGORY,
            description=(
                "Loads an IN2 face inpainting model. Models are folders with config.json + model.safetensors "
                "in ComfyUI/models/in2 or ComfyUI/models/inpaint (or a folder listed under 'in2:' or 'inpaint:' "
                "in extra_model_paths.yaml)."
            ),
            inputs=[
                io.Combo.Input("model", options=model_store.safe_model_choices(), tooltip=(
                    "A model folder from models/in2 or models/inpaint, the bundled demo model, or a Hugging Face "
                    "download "
                    "(set repo_id). Press 'r' to refresh after adding a folder.")),
                io.String.Input("repo_id", default="", tooltip=(
                    "Hugging Face repo id 'owner/name', used only with the Hugging Face choice. Downloaded "
                    "once into models/in2/owner--name, then works offline.")),
                io.String.Input("revision", default="main",
                                tooltip="Branch, tag or commit of the Hugging Face repo (a commit hash pins it)."),
                io.Combo.Input("device", options=DEVICES, default="auto", tooltip=(
                    "auto: the device ComfyUI uses (a GPU when there is one); cpu: always the CPU.")),
                io.Combo.Input("dtype", options=list(DTYPE_CHOICES), default="auto", tooltip=(
                    "Compute precision. auto: bf16 on a GPU that supports it, else fp32. fp16 on CPU runs as "
                    "fp32 (use bf16 there to save memory).")),
            ],
            outputs=[IN2ModelType.Output("in2_model", display_name="model")],
        )

    @classmethod
    def fingerprint_inputs(cls, model: str, repo_id: str = "", revision: str = "main", device: str = "auto",
                           dtype: str = "auto") -> str:
        """Reload when the model's files were re-saved, not only when an input changed."""
        return model_store.fingerprint(model, repo_id, revision)

    @classmethod
    def execute(cls, model: str, repo_id: str = "", revision: str = "main", device: str = "auto",
                dtype: str = "auto") -> io.NodeOutput:
        return io.NodeOutput(load_in2_model(model, repo_id, revision, device, dtype))


class IN2Inpaint(io.ComfyNode):
    """Fills the masked area of each image with an IN2 model, at the image's own resolution."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="IN2_Inpaint",
            display_name="IN2 Inpaint (native resolution)",
            category=CATEGORY,
            description=(
                "Fills the masked area (painted in the Mask Editor, or any MASK) and keeps every other pixel "
                "unchanged. The output has exactly the input size; an empty mask returns the image as is."
            ),
            inputs=[
                IN2ModelType.Input("model", tooltip="From IN2 Load Model."),
                io.Image.Input("image", tooltip="One image or a batch, any size." + cpu_size_hint()),
                io.Mask.Input("mask", tooltip=(
                    f"Area to fill: {FILL_RULE}. One mask for the whole batch, or one per image, at the image size.")),
                io.Combo.Input("mode", options=list(MODES), default=MODES[0], tooltip=(
                    "native: the model runs at the image's own resolution (sharpest). resize: it runs at its "
                    "training size and the fill is scaled back (less memory on big images).")),
                io.Combo.Input("blend", options=list(BLENDS), default=BLENDS[0], tooltip=(
                    "none: the fill is pasted as is. seamless: colour-matched fill with a feathered edge inside "
                    "the hole so no seam shows. Pixels outside the mask never change.")),
                io.Boolean.Input("resize_mask", default=False, tooltip=(
                    "Stretch a mask of another size to the image instead of stopping with an error.")),
                io.Combo.Input("crop", options=list(CROPS), default=CROPS[0], optional=True, tooltip=(
                    "on: each separate masked region is filled inside its own box of context and stitched back "
                    "(large photos, small holes, no out-of-memory). off: the whole image runs. auto: crops when "
                    "the whole image would not fit in memory or its holes are small in a large photo.")),
                io.Float.Input("context", default=DEFAULT_CONTEXT, min=1.0, max=16.0, step=0.25, optional=True,
                               tooltip="Crop box side over the masked region's side (with crop on/auto). More "
                                       "context: slower, sees more of the face."),
                io.Int.Input("grow", default=0, min=-512, max=512, step=1, optional=True, tooltip=(
                    "Grow the mask by this many pixels before filling (negative shrinks it): covers the halo a "
                    "tight mask leaves around an object.")),
                io.Boolean.Input("fill_holes", default=False, optional=True,
                                 tooltip="Also fill unmasked specks and gaps that the mask fully encloses."),
                io.Float.Input("threshold", default=0.5, min=0.01, max=1.0, step=0.01, optional=True,
                               tooltip="Soft masks are filled where they are at least this value."),
            ],
            outputs=[
                io.Image.Output("inpainted", display_name="image"),
                io.Mask.Output("filled_mask", display_name="filled mask",
                               tooltip="The mask actually filled (after threshold, fill_holes and grow)."),
            ],
        )

    @classmethod
    def validate_inputs(cls, crop: str = CROPS[0], context: float = DEFAULT_CONTEXT) -> bool | str:
        """Refuse a workflow saved before these V3 nodes, whose widget values sit one slot over,
        naming what to set again (ComfyUI would otherwise run it with other settings)."""
        return check_widgets(crop, context)

    @classmethod
    def execute(cls, model, image, mask, mode: str = MODES[0], blend: str = BLENDS[0], resize_mask: bool = False,
                crop: str = CROPS[0], context: float = DEFAULT_CONTEXT, grow: int = 0, fill_holes: bool = False,
                threshold: float = 0.5) -> io.NodeOutput:
        return io.NodeOutput(*run_inpaint(model, image, mask, mode, blend, resize_mask, crop, context, grow,
                                          fill_holes, threshold))


class IN2Extension(ComfyExtension):
    """The node list ComfyUI asks for at start-up."""

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [IN2LoadModel, IN2Inpaint]
