// libvae._libvae: nanobind bindings over the public C API (include/vae/vae.h)
// and nothing else of the library: the classes of trainer_classes.h, the
// status exceptions and the constants. The Python layer (python/libvae/)
// builds the user's API on these classes.
//
// Arrays in are float32 (uint8 for byte datasets and labels) in C order, on the host or,
// for the CUDA backend, on the GPU: NumPy arrays and DLPack producers pass
// without a copy where dtype and order match, and nanobind converts others
// once. Arrays out are NumPy arrays on the host.
#include <exception>
#include <initializer_list>
#include <utility>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include "trainer_classes.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace libvae_ext {
namespace {

// Raises a StatusError as libvae's exception class of its status.
void translate_status_error(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const StatusError& e) {
    nb::object error_class;
    try {
      error_class = nb::module_::import_("libvae._errors").attr("error_class")(int(e.status()));
    } catch (const nb::python_error&) {
      // Only where this module is loaded outside its package (stubgen does).
      error_class = nb::borrow(PyExc_RuntimeError);
    }
    PyErr_SetString(error_class.ptr(), e.what());
  }
}

// The Trainer type's garbage-collector slots. Its allreduce hook is a
// reference the collector must see: a hook that refers to its own model (a
// closure over it, or any function of the module that holds the model)
// makes a cycle through the trainer, which without these slots would never
// be freed.
int trainer_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (!nb::inst_ready(self)) return 0;
  Py_VISIT(nb::inst_ptr<Trainer>(self)->allreduce_hook().ptr());
  return 0;
}

int trainer_clear(PyObject* self) {
  nb::inst_ptr<Trainer>(self)->drop_allreduce();
  return 0;
}

PyType_Slot trainer_slots[] = {{Py_tp_traverse, reinterpret_cast<void*>(&trainer_traverse)},
                               {Py_tp_clear, reinterpret_cast<void*>(&trainer_clear)},
                               {0, nullptr}};

nb::dict names(std::initializer_list<std::pair<const char*, int>> entries) {
  nb::dict d;
  for (const auto& [name, value] : entries) d[name] = value;
  return d;
}

}  // namespace
}  // namespace libvae_ext

NB_MODULE(_libvae, m) {
  using namespace libvae_ext;
  m.doc() = "Bindings of libvae's C API (vae.h); the libvae package is the API to use.";
  nb::register_exception_translator(translate_status_error);

  nb::enum_<vae_status>(m, "Status", nb::is_arithmetic())
      .value("OK", VAE_OK)
      .value("INVALID_ARGUMENT", VAE_ERROR_INVALID_ARGUMENT)
      .value("OUT_OF_MEMORY", VAE_ERROR_OUT_OF_MEMORY)
      .value("DEVICE", VAE_ERROR_DEVICE)
      .value("IO", VAE_ERROR_IO)
      .value("FORMAT", VAE_ERROR_FORMAT)
      .value("NUMERICAL", VAE_ERROR_NUMERICAL)
      .value("UNSUPPORTED", VAE_ERROR_UNSUPPORTED)
      .value("INTERNAL", VAE_ERROR_INTERNAL)
      .value("INTERRUPTED", VAE_ERROR_INTERRUPTED);
  nb::enum_<vae_option>(m, "Option", nb::is_arithmetic())
      .value("INPUT_DIM", VAE_OPT_INPUT_DIM)
      .value("LATENT_DIM", VAE_OPT_LATENT_DIM)
      .value("MAX_BATCH", VAE_OPT_MAX_BATCH)
      .value("LIKELIHOOD", VAE_OPT_LIKELIHOOD)
      .value("VARIANCE", VAE_OPT_VARIANCE)
      .value("LOG_VARIANCE", VAE_OPT_LOG_VARIANCE)
      .value("ACTIVATION", VAE_OPT_ACTIVATION)
      .value("BACKEND", VAE_OPT_BACKEND)
      .value("DEVICE", VAE_OPT_DEVICE)
      .value("SEED", VAE_OPT_SEED)
      .value("LEARNING_RATE", VAE_OPT_LEARNING_RATE)
      .value("ADAM_BETA1", VAE_OPT_ADAM_BETA1)
      .value("ADAM_BETA2", VAE_OPT_ADAM_BETA2)
      .value("ADAM_EPSILON", VAE_OPT_ADAM_EPSILON)
      .value("KL_WEIGHT", VAE_OPT_KL_WEIGHT)
      .value("SAMPLES", VAE_OPT_SAMPLES)
      .value("OBJECTIVE", VAE_OPT_OBJECTIVE)
      .value("UPDATE", VAE_OPT_UPDATE)
      .value("THREADS", VAE_OPT_THREADS)
      .value("TF32", VAE_OPT_TF32)
      .value("EVAL_ROWS", VAE_OPT_EVAL_ROWS)
      .value("STEPS", VAE_OPT_STEPS)
      .value("EPOCHS", VAE_OPT_EPOCHS)
      .value("SKIPPED_STEPS", VAE_OPT_SKIPPED_STEPS)
      .value("RANK", VAE_OPT_RANK)
      .value("WORLD_SIZE", VAE_OPT_WORLD_SIZE)
      .value("LR_SCHEDULE", VAE_OPT_LR_SCHEDULE)
      .value("WARMUP_STEPS", VAE_OPT_WARMUP_STEPS)
      .value("DECAY_STEPS", VAE_OPT_DECAY_STEPS)
      .value("FINAL_LEARNING_RATE", VAE_OPT_FINAL_LEARNING_RATE)
      .value("CLIP_NORM", VAE_OPT_CLIP_NORM)
      .value("GRAD_NORM", VAE_OPT_GRAD_NORM)
      .value("NEXT_LEARNING_RATE", VAE_OPT_NEXT_LEARNING_RATE)
      .value("MIN_LOG_VARIANCE", VAE_OPT_MIN_LOG_VARIANCE)
      .value("PRIOR_COMPONENTS", VAE_OPT_PRIOR_COMPONENTS)
      .value("CONDITION_DIM", VAE_OPT_CONDITION_DIM);

  // The C API's enumerators by the names the Python API takes.
  m.attr("LIKELIHOODS") = names(
      {{"bernoulli", VAE_LIKELIHOOD_BERNOULLI}, {"gaussian", VAE_LIKELIHOOD_GAUSSIAN}});
  m.attr("VARIANCES") = names({{"fixed", VAE_VARIANCE_FIXED},
                               {"shared", VAE_VARIANCE_LEARNED_SHARED},
                               {"per-dim", VAE_VARIANCE_LEARNED_PER_DIM},
                               {"decoder", VAE_VARIANCE_DECODER}});
  m.attr("ACTIVATIONS") = names({{"relu", VAE_ACTIVATION_RELU}, {"tanh", VAE_ACTIVATION_TANH}});
  m.attr("BACKENDS") = names(
      {{"auto", VAE_BACKEND_AUTO}, {"cpu", VAE_BACKEND_CPU}, {"cuda", VAE_BACKEND_CUDA}});
  m.attr("OBJECTIVES") = names({{"elbo", VAE_OBJECTIVE_ELBO}, {"iwae", VAE_OBJECTIVE_IWAE}});
  m.attr("UPDATES") = names(
      {{"all", VAE_UPDATE_ALL}, {"encoder", VAE_UPDATE_ENCODER}, {"decoder", VAE_UPDATE_DECODER}});
  m.attr("SCHEDULES") = names({{"constant", VAE_SCHEDULE_CONSTANT},
                               {"linear", VAE_SCHEDULE_LINEAR},
                               {"cosine", VAE_SCHEDULE_COSINE}});
  m.attr("ESTIMATORS") = names(
      {{"prior", VAE_ESTIMATOR_PRIOR}, {"importance", VAE_ESTIMATOR_IMPORTANCE}});
  m.attr("BYTE_TRANSFORMS") = names({{"scale", VAE_BYTES_SCALE},
                                     {"binarize", VAE_BYTES_BINARIZE},
                                     {"dequantize", VAE_BYTES_DEQUANTIZE}});
  m.attr("MAX_HIDDEN_LAYERS") = VAE_MAX_HIDDEN_LAYERS;

  m.def("version", &vae_version, "VAE_VERSION of the library loaded: major*10000 + minor*100 + patch.");
  m.def("status_string", [](vae_status s) { return std::string(vae_status_string(s)); },
        "status"_a, "The C API's fixed text for a status.");

  nb::class_<Config>(m, "Config", "A vae_config: the model and its training, before a trainer exists.")
      .def(nb::init<>())
      .def("set_int", &Config::set_int, "option"_a, "value"_a)
      .def("set_float", &Config::set_float, "option"_a, "value"_a)
      .def("set_hidden_layers", &Config::set_hidden_layers, "widths"_a);

  nb::class_<Dataset>(m, "Dataset", "Rows held by one trainer's backend (vae_dataset).")
      .def_prop_ro("rows", &Dataset::rows)
      .def("__len__", &Dataset::rows);

  nb::class_<Trainer>(m, "Trainer", "A vae_trainer; each call holds it, without the GIL.",
                      nb::type_slots(trainer_slots))
      .def(nb::init<const Config&>(), "config"_a)
      .def_static("load", &Trainer::load, "path"_a, "backend"_a)
      .def_static("load_config", &Trainer::load_config, "path"_a, "choices"_a)
      .def_prop_ro("condition_dim", &Trainer::condition_dim)
      .def("get_int", &Trainer::get_int, "option"_a)
      .def("get_float", &Trainer::get_float, "option"_a)
      .def("set_int", &Trainer::set_int, "option"_a, "value"_a)
      .def("set_float", &Trainer::set_float, "option"_a, "value"_a)
      // condition: each row's, (n, condition_dim) floats, for a conditional
      // model (and for it alone).
      .def("train_step", &Trainer::train_step, "x"_a, "return_loss"_a = true,
           "condition"_a = nb::none())
      .def("evaluate", &Trainer::evaluate, "x"_a, "condition"_a = nb::none())
      .def("log_likelihood", &Trainer::log_likelihood, "x"_a, "k"_a, "estimator"_a,
           "condition"_a = nb::none())
      .def("encode", &Trainer::encode, "x"_a, "condition"_a = nb::none())
      .def("decode", &Trainer::decode, "z"_a, "condition"_a = nb::none())
      .def("sample", &Trainer::sample, "n"_a, "condition"_a = nb::none())
      .def("hidden_layers", &Trainer::hidden_layers)
      .def("parameter_count", &Trainer::parameter_count)
      .def("get_parameters", &Trainer::get_parameters)
      .def("set_parameters", &Trainer::set_parameters, "values"_a)
      .def("save", &Trainer::save, "path"_a)
      .def("set_cuda_stream", &Trainer::set_cuda_stream, "stream"_a)
      .def("dataset", &Trainer::dataset, "x"_a, "name"_a = "data")
      .def("dataset_u8", &Trainer::dataset_u8, "y"_a, "transform"_a, "name"_a = "data")
      .def("set_dataset_conditions", &Trainer::set_dataset_conditions, "dataset"_a,
           "condition"_a)
      .def("set_dataset_labels", &Trainer::set_dataset_labels, "dataset"_a, "labels"_a)
      .def("train_epoch", &Trainer::train_epoch, "dataset"_a, "batch"_a, "progress"_a = nb::none())
      .def("interrupt", &Trainer::interrupt)
      .def("set_allreduce", &Trainer::set_allreduce, "hook"_a.none())
      .def("evaluate_dataset", &Trainer::evaluate_dataset, "dataset"_a,
           "progress"_a = nb::none())
      .def("log_likelihood_dataset", &Trainer::log_likelihood_dataset, "dataset"_a, "k"_a,
           "estimator"_a, "progress"_a = nb::none())
      .def("log_likelihood_stats", &Trainer::log_likelihood_stats, "x"_a, "k"_a, "estimator"_a,
           "adaptive"_a, "k_max"_a, "target_std_error"_a, "condition"_a = nb::none())
      .def("log_likelihood_stats_dataset", &Trainer::log_likelihood_stats_dataset, "dataset"_a,
           "k"_a, "estimator"_a, "adaptive"_a, "k_max"_a, "target_std_error"_a,
           "progress"_a = nb::none())
      .def("refine_posterior", &Trainer::refine_posterior, "x"_a, "steps"_a, "samples"_a,
           "elbo_samples"_a, "learning_rate"_a, "condition"_a = nb::none())
      .def("latent_usage", &Trainer::latent_usage, "dataset"_a, "threshold"_a, "mi_rows"_a,
           "mi_samples"_a, "progress"_a = nb::none());
}
